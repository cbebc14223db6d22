from hrms.services.company.models import metadata
from isles.migrations import run_env

run_env(metadata)
