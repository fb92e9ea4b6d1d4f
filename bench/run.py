"""Run every benchmark; each writes its figures to bench/results/."""

from bench import consistency, latency, unclaimed_accuracy


def main() -> None:
    consistency.main()
    latency.main()
    unclaimed_accuracy.main()


if __name__ == "__main__":
    main()
