"""An actor that cannot start answers 503 and the log says why."""

from __future__ import annotations

import logging

import pytest

from actors import messages as msg
from actors.directory import Directory
from actors.series_actor import ActorDeps
from canvas.errors import ServiceUnavailable
from canvas.storage.db import series_db_path

SID = "binance:spot:AAA/USDT:1m"


async def test_start_failure_is_logged(tmp_path, nursery, caplog):
    # A directory where the ledger file should be: the actor cannot open its database.
    series_db_path(tmp_path, SID).mkdir(parents=True)
    deps = ActorDeps(data_dir=str(tmp_path), catchup_limit=5000, idle_ttl_s=60)
    directory = await nursery.start(Directory(deps, request_timeout_s=10).run)
    with (
        caplog.at_level(logging.ERROR, logger="canvas.directory"),
        pytest.raises(ServiceUnavailable),
    ):
        await directory.ask(SID, msg.QueryCandles(None, 1))
    [record] = [r for r in caplog.records if r.name == "canvas.directory"]
    assert SID in record.getMessage() and "failed to start" in record.getMessage()
    assert record.exc_info is not None  # the cause, with its traceback
