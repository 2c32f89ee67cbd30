"""Effects: a plan of timed segments per clip, rendered by deterministic code in the one pass.

    types     the plan: a grade, punch-in segments (zoom <= 1.5 on the face), silence cuts
    local     the local rules, and `sanitize_plan`, which clamps any planner's plan
    gemini    Gemini plans with a response schema
    filters   the plan as ffmpeg filters, and the cut timeline (TimeMap) captions follow
    dispatch  planner choice and the `effects` task

Import from the submodules; this package imports nothing.
"""
