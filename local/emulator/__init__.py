"""A loopback emulator of the CMS bulk FHIR servers (BCDA, AB2D) and of a SMART Bulk Data server.

from local.emulator import Emulator, EmulatorConfig, SCENARIOS

with Emulator(EmulatorConfig(flavor="bcda", scenario="none")) as emu:
    emu.base_url, emu.token_url, emu.client_id, emu.client_secret
"""

from local.emulator.config import FLAVORS, SCENARIOS, EmulatorConfig
from local.emulator.records import JobRecord, RequestRecord, ServedFile
from local.emulator.server import Emulator

__all__ = ["FLAVORS", "SCENARIOS", "Emulator", "EmulatorConfig", "JobRecord", "RequestRecord", "ServedFile"]
