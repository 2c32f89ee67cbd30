// reelflow's web page: what htmx does not do. Plain script, no build step.
//
// - the submit form: a file dropped or chosen, refused before upload when it is too large,
//   sent with an upload progress bar; the Gemini key goes as the X-Gemini-Key header of that
//   one request and is kept nowhere (the field has no name, so it is no form data);
// - forms with data-api (restyle, and what other features add): sent to the JSON API as JSON;
// - cancel and delete buttons; copy buttons.
// Every request that changes something carries the session's CSRF token (X-CSRF-Token).
(() => {
  "use strict";

  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const announcer = Object.assign(document.createElement("p"), { className: "visually-hidden" });
  announcer.setAttribute("role", "status");
  document.body.append(announcer);

  function withCsrf(headers) {
    return csrf ? { ...headers, "X-CSRF-Token": csrf } : headers;
  }

  // A JSON API request: resolves to {ok, status, body}, never throws.
  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: withCsrf({}) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      const response = await fetch(url, init);
      const data = await response.json().catch(() => ({}));
      return { ok: response.ok, status: response.status, body: data };
    } catch (error) {
      return { ok: false, status: 0, body: {} };
    }
  }

  // The API's one-line reason, or what the status says.
  function reason(result) {
    if (result.status === 0) return "The server could not be reached.";
    if (result.status === 401) return "Your session has ended: reload the page and log in again.";
    const detail = result.body && result.body.detail;
    return typeof detail === "string" && detail ? detail : `The server answered ${result.status}.`;
  }

  function megabytes(bytes) {
    return `${(bytes / 1048576).toFixed(1)} MB`;
  }

  // -- submit ----------------------------------------------------------------------------------

  function setUpSubmit(form) {
    const field = (name) => form.elements.namedItem(name);
    const $ = (id) => document.getElementById(id);
    const maxMb = Number(form.dataset.maxMb);
    const fileInput = $("file");
    const drop = $("drop-zone");
    const error = $("submit-error");
    const status = $("submit-status");
    const button = $("submit-button");
    const key = $("gemini-key");

    const fail = (message, focus) => {
      error.textContent = message;
      status.textContent = "";
      button.disabled = false;
      if (focus) focus.focus();
    };
    const tooLarge = (file) =>
      `${file.name} is ${megabytes(file.size)}; the largest upload is ${maxMb} MB.`;

    const showFile = () => {
      const file = fileInput.files[0];
      $("file-chosen").textContent = file ? `Chosen: ${file.name} (${megabytes(file.size)})` : "";
      error.textContent = file && file.size > maxMb * 1048576 ? tooLarge(file) : "";
    };
    fileInput.addEventListener("change", showFile);
    for (const type of ["dragenter", "dragover"]) {
      drop.addEventListener(type, (event) => {
        event.preventDefault();
        drop.classList.add("over");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      drop.addEventListener(type, () => drop.classList.remove("over"));
    }
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        fileInput.files = event.dataTransfer.files;
        showFile();
      }
    });

    const options = () => {
      const out = { provider: form.querySelector('input[name="provider"]:checked').value };
      for (const name of ["clips", "min_seconds", "max_seconds"]) {
        if (field(name).value) out[name] = Number(field(name).value);
      }
      const captions = form.querySelector('input[name="captions"]:checked').value;
      if (captions) out.captions = captions;
      if (field("hook").checked) {
        out.hook = { position: field("hook_position").value, size: field("hook_size").value };
      }
      const effects = field("effects").checked;
      if (effects || field("cut_silences").checked) {
        out.effects = { zoom: effects, colour: effects, cut_silences: field("cut_silences").checked };
      }
      return out;
    };

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      error.textContent = "";
      const url = field("url").value.trim();
      const file = fileInput.files[0];
      if (!url && !file) return fail("Give a link to a video, or choose a file.", field("url"));
      if (url && file) return fail("Give a link or a file, not both.", field("url"));
      if (file && file.size > maxMb * 1048576) return fail(tooLarge(file), fileInput);
      const opts = options();
      if (opts.provider === "gemini" && !key.value.trim()) {
        return fail("Gemini needs your API key (or choose the local scorer).", key);
      }
      send(url, file, opts);
    });

    function send(url, file, opts) {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/process");
      // The API asks every submission for the header; the local scorer never reads it.
      xhr.setRequestHeader("X-Gemini-Key", key.value.trim() || "unused-by-local");
      if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.responseType = "json";
      let body;
      if (file) {
        body = new FormData();
        body.append("file", file, file.name);
        for (const [name, value] of Object.entries(opts)) {
          body.append(name, typeof value === "object" ? JSON.stringify(value) : String(value));
        }
        const bar = $("upload-progress");
        $("upload").hidden = false;
        xhr.upload.addEventListener("progress", (progress) => {
          if (!progress.lengthComputable) return;
          const percent = Math.round((progress.loaded * 100) / progress.total);
          bar.value = percent;
          $("upload-figure").textContent = `${percent}% of ${megabytes(progress.total)}`;
        });
      } else {
        xhr.setRequestHeader("Content-Type", "application/json");
        body = JSON.stringify({ url, ...opts });
      }
      xhr.addEventListener("load", () => {
        const result = { ok: xhr.status < 300, status: xhr.status, body: xhr.response || {} };
        if (result.ok && result.body.job_id) {
          key.value = "";
          status.textContent = "Submitted. Opening the job…";
          window.location.assign(`/jobs/${encodeURIComponent(result.body.job_id)}`);
        } else {
          $("upload").hidden = true;
          fail(reason(result));
        }
      });
      xhr.addEventListener("error", () => {
        $("upload").hidden = true;
        fail("The request did not get through: the server could not be reached.");
      });
      button.disabled = true;
      status.textContent = file ? "Uploading…" : "Submitting…";
      xhr.send(body);
    }
  }

  const submitForm = document.getElementById("submit-form");
  if (submitForm) setUpSubmit(submitForm);

  // -- forms sent to the JSON API (restyle, and hooks for other features) ----------------------

  function restyleBody(form) {
    const field = (name) => form.elements.namedItem(name);
    const body = {};
    if (field("captions").value) body.captions = field("captions").value;
    if (field("hook").checked) {
      const text = field("hook_text").value.trim();
      body.hook = text ? { text } : true;
    }
    if (field("effects").checked) body.effects = true;
    return body;
  }

  // Fields as JSON: checkboxes as true (left out unchecked), numbers as numbers, empty left out.
  function formJson(form) {
    const body = {};
    for (const element of form.elements) {
      if (!element.name || element.disabled) continue;
      if (element.type === "checkbox") {
        if (element.checked) body[element.name] = true;
      } else if (element.type === "radio") {
        if (element.checked) body[element.name] = element.value;
      } else if (element.value !== "") {
        body[element.name] = element.type === "number" ? Number(element.value) : element.value;
      }
    }
    return body;
  }

  function addPendingVersion(index, jobId) {
    const row = document.getElementById(`versions-${index}`);
    if (!row || !window.htmx) return;
    const figure = document.createElement("figure");
    figure.className = "version pending";
    figure.dataset.versionJob = jobId;
    figure.setAttribute("aria-busy", "true");
    figure.setAttribute("hx-get", `/fragments/versions/${encodeURIComponent(jobId)}`);
    figure.setAttribute("hx-trigger", "load");
    figure.setAttribute("hx-swap", "outerHTML");
    const note = document.createElement("p");
    note.textContent = "Rendering a new version…";
    figure.append(note);
    row.append(figure);
    window.htmx.process(figure);
    figure.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    const out = form.querySelector("output");
    const button = form.querySelector('button[type="submit"]');
    const body = form.dataset.body === "restyle" ? restyleBody(form) : formJson(form);
    button.disabled = true;
    out.classList.remove("error");
    out.textContent = "Sending…";
    const result = await api(form.dataset.method || "POST", form.dataset.api, body);
    button.disabled = false;
    if (!result.ok) {
      out.classList.add("error");
      out.textContent = reason(result);
    } else if (form.dataset.then === "version" && result.body.job_id) {
      addPendingVersion(form.dataset.index, result.body.job_id);
      out.textContent = "Rendering: the new version appears beside the clip.";
    } else {
      out.textContent = result.body.status ? `Done: ${result.body.status}.` : "Done.";
    }
  });

  // -- cancel, delete, copy --------------------------------------------------------------------

  async function jobAction(button) {
    const { jobAction: action, jobId } = button.dataset;
    const message = document.getElementById("job-message") || document.getElementById("jobs-message");
    if (action === "delete" && !window.confirm("Delete this job's clips and files? This cannot be undone.")) {
      return;
    }
    button.disabled = true;
    const result = await api("DELETE", `/api/jobs/${encodeURIComponent(jobId)}`);
    if (!result.ok) {
      button.disabled = false;
      if (message) message.textContent = reason(result);
      return;
    }
    announcer.textContent = action === "delete" ? "The job was deleted." : "The job is being cancelled.";
    if (button.dataset.after) {
      window.location.assign(button.dataset.after);
    } else if (document.getElementById("jobs-body") && window.htmx) {
      window.htmx.trigger("#jobs-body", "refresh");
    }
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (error) {
        // fall through: an older way that works without the clipboard permission
      }
    }
    const area = Object.assign(document.createElement("textarea"), { value: text, readOnly: true });
    area.className = "offscreen";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    area.remove();
    return copied;
  }

  document.addEventListener("click", async (event) => {
    const action = event.target.closest("button[data-job-action]");
    if (action) return jobAction(action);
    const copy = event.target.closest("button[data-copy]");
    if (!copy) return;
    const source = document.getElementById(copy.dataset.copy);
    const copied = source && (await copyText(source.textContent.trim()));
    copy.textContent = copied ? "Copied" : "Copy failed";
    announcer.textContent = copied ? "Copied." : "Could not copy: select the text and copy it.";
    setTimeout(() => (copy.textContent = "Copy"), 2000);
  });
})();
