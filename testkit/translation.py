"""A stand-in translator for the Gemini stand-in: answers a translation request (the prompt of
tasks.translate.gemini) with every phrase "translated" as `[<lang>] <phrase>`, the texts the
same way, so a test can tell each caption line's source phrase. Plug it in as
`GeminiStandIn(responder=translator())`."""

from __future__ import annotations

import json
import re

from testkit.gemini import Recorded, Reply, _response

_TARGET = re.compile(r"^Target language: .*\((?P<code>[a-z]{2,3})\)$", re.M)
_PHRASE = re.compile(r"^(?P<id>\d+)\| (?P<text>.*)$", re.M)
_NAMES = "Title|Hook|TikTok description|Instagram description"
_FIELD = re.compile(rf"^(?P<name>{_NAMES}): (?P<text>.*)$", re.M)


def translate_prompt(prompt: str) -> dict:
    code = _TARGET.search(prompt)["code"]
    fields = {m["name"]: m["text"] for m in _FIELD.finditer(prompt)}

    def mark(text: str) -> str:
        return f"[{code}] {text}".strip()

    return {
        "phrases": [
            {"id": int(m["id"]), "text": mark(m["text"])} for m in _PHRASE.finditer(prompt)
        ],
        "title": mark(fields.get("Title", ""))[:100],
        "hook": mark(fields.get("Hook", "")),
        "description_tiktok": mark(fields.get("TikTok description", "")),
        "description_instagram": mark(fields.get("Instagram description", "")),
        "hashtags": [f"#{code}clip"],
    }


def translator(tokens_in: int = 800, tokens_out: int = 400, translate=translate_prompt):
    """A responder answering each request with its translation: `translate(prompt)`, the
    answer's JSON (by default the marked copy above)."""

    def answer(request: Recorded) -> Reply:
        text = json.dumps(translate(request.prompt), ensure_ascii=False)
        content = {"parts": [{"text": text}], "role": "model"}
        candidate = {"content": content, "finishReason": "STOP"}
        return Reply(200, _response([candidate], tokens_in, tokens_out))

    return answer
