"""Run every benchmark; each writes its figures to bench/results/."""

from bench import consistency, issue13, latency, memory, nodes300, planning, unclaimed_accuracy


def main() -> None:
    consistency.main()
    latency.main()
    planning.main()
    unclaimed_accuracy.main()
    issue13.main()
    memory.main()  # 1M households x 13 months: generated once into a temporary folder, then reused
    nodes300.main()


if __name__ == "__main__":
    main()
