"""Run every benchmark; each writes its figures to bench/results/."""

from bench import consistency, issue13, latency, nodes300, unclaimed_accuracy


def main() -> None:
    consistency.main()
    latency.main()
    unclaimed_accuracy.main()
    issue13.main()
    nodes300.main()


if __name__ == "__main__":
    main()
