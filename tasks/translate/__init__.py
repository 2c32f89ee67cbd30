"""Translation of a clip: its spoken phrases and its texts (title, hook, descriptions,
hashtags) into other languages, through a provider (types, phrases, gemini, offline, dispatch)."""
