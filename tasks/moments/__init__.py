"""Stage 4, moments: the providers that pick a video's strongest moments.

    types     MomentOptions (what was asked), MomentPicks (what a provider returns)
    local     the offline scorer
    gemini    Gemini with a response schema
    dispatch  provider choice, the `moments` task, the fill-up from the local scorer

Import from the submodules; this package imports nothing, so a submodule never drags in the
others (boundaries needs only the types).
"""
