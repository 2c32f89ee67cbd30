"""`reelflow restyle <job folder> <index>`: render one clip again with a new look."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError

from reelflow.cli.common import add_look_arguments, fail, json_object, look_options, prefect_server
from reelflow.cli.uploads import finish_uploads
from reelflow.errors import ReelflowError, describe_invalid


def add_command(sub) -> None:
    r = sub.add_parser(
        "restyle",
        help="render one clip of a finished job again with new captions, hook or effects",
        description="Renders from the source video (not from the clip) and writes "
        "clip_NN_vK.mp4 (with .jpg, .srt, .vtt) beside the earlier files.",
    )
    r.add_argument("job", help="the job's folder (or its id under <data dir>/jobs)")
    r.add_argument("index", type=int, help="the clip's number")
    add_look_arguments(r)
    r.add_argument(
        "--reframe", metavar="JSON", type=json_object,
        help='correct the framing: per-scene layouts, e.g. \'{"layouts": [{"scene": 2, '
        '"layout": "split"}]}\', or crop keyframes \'{"keyframes": [{"t": 3.5, "x": 820}]}\'',
    )  # fmt: skip
    r.add_argument(
        "--translate", metavar="LANGS",
        help="instead of a new look: the clip with captions, title, hook and descriptions in "
        "these languages, e.g. es,de (clip_NN.<lang>.mp4; Gemini: GEMINI_API_KEY)",
    )  # fmt: skip
    r.add_argument(
        "--dub", action="store_true",
        help="with --translate: dub the voice too (ElevenLabs: ELEVENLABS_API_KEY)",
    )  # fmt: skip
    r.add_argument(
        "--translation-provider", choices=["gemini", "offline"], default="gemini",
        help="who translates (default gemini; offline needs a translation model)",
    )  # fmt: skip
    r.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from reelflow.styles import RestyleRequest

    job = args.job
    if Path(job).expanduser().exists():
        job = str(Path(job).expanduser().absolute())
    if args.translate is not None or args.dub:
        return _translate(args, job)
    try:
        request = RestyleRequest(job=job, index=args.index, reframe=args.reframe,
                                 **look_options(args))  # fmt: skip
    except ValidationError as exc:
        return fail(describe_invalid(exc.errors()))
    try:
        return _run(request)
    except ReelflowError as exc:  # no Prefect server to run on
        return fail(str(exc))


def _run(request) -> int:
    def start():
        from flows.restyle import restyle_clip

        return restyle_clip(request, return_state=True)

    return _run_flow("flows.restyle", start, request, lambda result: [result["file"]],
                     "the restyle failed")  # fmt: skip


def _run_flow(module: str, start, request, files, failed: str) -> int:
    """Run a re-render flow (`start()`, which imports it: Prefect is imported only once the
    kept local server is found or starting) on the local server; print the files it made, one
    per line, and finish their S3 uploads before the command ends."""
    with prefect_server(module):
        from flows.restyle import job_folder

        print(f"reelflow: {request.label()} ...", file=sys.stderr)
        state = start()
        if not state.is_completed():
            return fail(state.message or failed)
        folder = job_folder(request.job)
        for name in files(state.result()):
            print(folder / name, flush=True)
        finish_uploads(folder)
    return 0


def _translate(args: argparse.Namespace, job: str) -> int:
    from reelflow.translate_request import TranslateRequest

    if any(look_options(args).values()) or args.reframe:
        return fail("--translate keeps the clip's look: give --captions, --hook, --effects or "
                    "--reframe in a restyle of their own")  # fmt: skip
    if not args.translate:
        return fail("--dub needs --translate with the languages, e.g. --translate es --dub")
    try:
        request = TranslateRequest(job=job, index=args.index, languages=args.translate,
                                   provider=args.translation_provider, dub=args.dub)  # fmt: skip
    except ValidationError as exc:
        return fail(describe_invalid(exc.errors()))

    def start():
        from flows.translate import translate_clip

        return translate_clip(request, return_state=True)

    try:
        return _run_flow("flows.translate", start, request, lambda result: result["files"],
                         "the translation failed")  # fmt: skip
    except ReelflowError as exc:  # no Prefect server to run on
        return fail(str(exc))
