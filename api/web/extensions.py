"""Where other features put their controls on the web page without editing its templates.

Each list holds template names (files in api/web/templates/) that the page includes:

- `CLIP_ACTIONS`: in every clip card of a finished job, after the downloads; the template sees
  `job` (api.schemas.JobStatusOut), `clip` (api.schemas.ClipOut) and `csrf`.
- `JOB_ACTIONS`: on a job's page, beside cancel/delete; the template sees `job` and `csrf`.

Translation and posting register their buttons here, e.g. `CLIP_ACTIONS.append(
"clip_translate.html")`. A `<form data-api="/api/jobs/{{ job.job_id }}/clips/{{ clip.index
}}/translate">` in such a template is sent by app.js as JSON (its fields; checkboxes as true,
numbers as numbers, empty fields left out) with the CSRF header; `data-then="version"` shows
the job it answers with as a new version of the clip, else the answer's `status` or error is
written into the form's `<output>`.
"""

from __future__ import annotations

CLIP_ACTIONS: list[str] = []
JOB_ACTIONS: list[str] = []
