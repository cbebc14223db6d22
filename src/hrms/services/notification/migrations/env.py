from hrms.services.notification.models import metadata
from isles import run_env

run_env(metadata)
