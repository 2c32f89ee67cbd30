"""Names the API, the CLI and the deployment scripts agree on."""

CLIP_FLOW = "clip_video"
CLIP_DEPLOYMENT = "clip-video"
CLIP_DEPLOYMENT_PATH = f"{CLIP_FLOW}/{CLIP_DEPLOYMENT}"
RETENTION_DEPLOYMENT = "retention"
ZOMBIE_AUTOMATION = "reelflow: crash clip runs whose worker died"
