from hrms.services.employee.models import metadata
from isles import run_env

run_env(metadata)
