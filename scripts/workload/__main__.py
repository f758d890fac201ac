"""Sends the simulated shop's traces, logs and metrics to an OTLP/HTTP endpoint:

    .venv/bin/python scripts/workload --endpoint http://127.0.0.1:4318 --rate 5
"""
import argparse
import pathlib
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from workload.sender import ExportFailed, Sender, add_workload_arguments  # noqa: E402
from workload.shop import Shop  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:4318", help="OTLP/HTTP base URL")
    parser.add_argument("--api-key", default=None, help="bearer key, when otlp_serve has an api_key")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    add_workload_arguments(parser)
    args = parser.parse_args()
    try:
        sender = Sender(args.endpoint, Shop(args.rate, args.error_rate, args.seed), args.interval, args.api_key)
    except ValueError as error:
        parser.error(str(error))
    try:
        sender.run(threading.Event(), args.seconds)
    except KeyboardInterrupt:
        pass
    except ExportFailed as error:
        sys.exit(f"workload: {error}")
    print(f"workload: {sender.user_requests} user requests in {sender.exports} exports, "
          f"{sum(sender.sent_bytes.values()):,} bytes of OTLP")


if __name__ == "__main__":
    main()
