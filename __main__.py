"""clawker-monitor: the Clawker monitoring stack as a Pulumi program."""

import os

import pulumi

from components import settings as stack_settings
from components import stack

try:
    settings = stack_settings.load()
    stack_settings.check_host_files(settings, os.environ.get("DOCKER_HOST", ""))
except stack_settings.SettingsError as error:
    # Fail before any resource is registered, without a Python traceback.
    raise pulumi.RunError(str(error)) from None
for message in stack_settings.warnings_for(settings):
    pulumi.warn(message)

built = stack.build_for_role(settings)
stack.export_outputs(settings, built)
