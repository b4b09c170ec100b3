"""`python -m canvas.simexchange`: one ready line with the ports, serves, exits 0 on SIGTERM."""

import re
import subprocess
import sys

import httpx
import pytest
import trio

from canvas.simexchange.cli import main


async def test_cli_serves_until_sigterm():
    command = [sys.executable, "-m", "canvas.simexchange", "--speed", "60", "--seed", "5"]
    command += ["--symbols", "BTC/USDT,ETHUSDT", "--start-ms", "1735689600000"]
    process = await trio.lowlevel.open_process(command, stdout=subprocess.PIPE)
    try:
        with trio.fail_after(20):
            line = b""
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                assert chunk, "the simulator exited before it was ready"
                line += chunk
            ready = line.decode()
            assert ready.startswith("simexchange ready ")
            port = int(re.search(r" port=(\d+)", ready).group(1))
            control = int(re.search(r"control_port=(\d+)", ready).group(1))
            async with httpx.AsyncClient(timeout=5) as http:
                info = (await http.get(f"http://127.0.0.1:{port}/api/v3/exchangeInfo")).json()
                state = (await http.get(f"http://127.0.0.1:{control}/_sim/state")).json()
            symbols = [s["symbol"] for s in info["symbols"] if s["status"] == "TRADING"]
            assert symbols[:2] == ["BTCUSDT", "ETHUSDT"]
            assert state["speed"] == 60
            process.terminate()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.stdout.aclose()


def test_cli_rejects_bad_arguments(capsys):
    assert main(["--messages-per-bucket", "0"]) == 2
    assert main(["--speed", "-1"]) == 2
    with pytest.raises(SystemExit) as exited:
        main(["--symbols", "NOTASYMBOL"])
    assert exited.value.code == 2
    assert "cannot split" in capsys.readouterr().err
