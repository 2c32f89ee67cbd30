"""The names of reelflow's flows and of the deployments that run them, in one place: the
flows use them in `@flow(name=...)`, and the worker, the API, the CLI and batch runs find the
deployments by them."""

CLIP_FLOW = "clip_video"
CLIP_DEPLOYMENT = "clip-video"
CLIP_DEPLOYMENT_PATH = f"{CLIP_FLOW}/{CLIP_DEPLOYMENT}"
RETENTION_FLOW = "cleanup_expired_jobs"
RETENTION_DEPLOYMENT = "retention"
RETENTION_DEPLOYMENT_PATH = f"{RETENTION_FLOW}/{RETENTION_DEPLOYMENT}"
BATCH_FLOW = "batch_urls"
BATCH_DEPLOYMENT = "batch-urls"
BATCH_DEPLOYMENT_PATH = f"{BATCH_FLOW}/{BATCH_DEPLOYMENT}"
RESTYLE_FLOW = "restyle_clip"
RESTYLE_DEPLOYMENT = "restyle-clip"
RESTYLE_DEPLOYMENT_PATH = f"{RESTYLE_FLOW}/{RESTYLE_DEPLOYMENT}"
TRANSLATE_FLOW = "translate_clip"
TRANSLATE_DEPLOYMENT = "translate-clip"
TRANSLATE_DEPLOYMENT_PATH = f"{TRANSLATE_FLOW}/{TRANSLATE_DEPLOYMENT}"
