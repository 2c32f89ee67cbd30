"""Names the API, the CLI and the deployment scripts agree on."""

CLIP_FLOW = "clip_video"
CLIP_DEPLOYMENT = "clip-video"
CLIP_DEPLOYMENT_PATH = f"{CLIP_FLOW}/{CLIP_DEPLOYMENT}"
RETENTION_FLOW = "cleanup_expired_jobs"
RETENTION_DEPLOYMENT = "retention"
RETENTION_DEPLOYMENT_PATH = f"{RETENTION_FLOW}/{RETENTION_DEPLOYMENT}"
ZOMBIE_AUTOMATION = "reelflow: crash clip runs whose worker died"
ZOMBIE_AUTOMATION_SILENT = "reelflow: crash deployment runs that never sent a heartbeat"
BATCH_FLOW = "batch_urls"
BATCH_DEPLOYMENT = "batch-urls"
BATCH_DEPLOYMENT_PATH = f"{BATCH_FLOW}/{BATCH_DEPLOYMENT}"
RESTYLE_FLOW = "restyle_clip"
RESTYLE_DEPLOYMENT = "restyle-clip"
RESTYLE_DEPLOYMENT_PATH = f"{RESTYLE_FLOW}/{RESTYLE_DEPLOYMENT}"

# What `deployments.serve` registers; a stack is ready only when all of them are.
SERVED_DEPLOYMENT_PATHS = (
    CLIP_DEPLOYMENT_PATH,
    RETENTION_DEPLOYMENT_PATH,
    BATCH_DEPLOYMENT_PATH,
    RESTYLE_DEPLOYMENT_PATH,
)
