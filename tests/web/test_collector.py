"""The API and worker processes run with the garbage collector settled (see `web.collector`)."""

from __future__ import annotations

import os
import subprocess
import sys

from web import collector
from web.config import Settings

PROBE = ("import gc; from web.app import app_from_env; app_from_env(); "
         "print(*gc.get_threshold(), gc.get_freeze_count() > 0)")


def test_the_app_factory_settles_the_collector(settings: Settings) -> None:
    env = {**os.environ, "METERING_DATABASE_URL": settings.database_url,
           "METERING_DATABASE_SCHEMA": settings.database_schema or ""}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    assert out == [*map(str, collector.THRESHOLDS), "True"]
