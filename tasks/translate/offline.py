"""The `offline` translation provider: there is none to run yet, and it says so.

An offline translator needs a translation model on disk (for example a CTranslate2 conversion
of OPUS-MT or NLLB with its SentencePiece model). None ships inside a PyPI package today, and
reelflow never downloads models at run time, so asking for offline translation fails with an
error naming what is needed instead of quietly doing something else.
"""

from __future__ import annotations

from reelflow.errors import InvalidRequest
from tasks.translate.types import Translation, TranslationJob

NOT_AVAILABLE = (
    "Offline translation needs a translation model (a CTranslate2 conversion of OPUS-MT or "
    "NLLB and its SentencePiece model), and no PyPI package ships one: translate with the "
    "gemini provider (send X-Gemini-Key, or set GEMINI_API_KEY)"
)


class OfflineUnavailable(InvalidRequest):
    """No offline translation model is installed."""


class OfflineTranslator:
    def translate(self, job: TranslationJob) -> Translation:
        raise OfflineUnavailable(NOT_AVAILABLE)
