from hrms.services.notification.models import metadata
from isles.migrations import run_env

run_env(metadata)
