"""Run every benchmark; each writes its figures to bench/results/."""

from bench import consistency, latency


def main() -> None:
    consistency.main()
    latency.main()


if __name__ == "__main__":
    main()
