"""The Velocity 1.7 oracle (docs/design.md, "The Velocity 1.7 oracle"): Apache Velocity itself,
one JVM per test session, fed templates over a pipe; the directive cases and the generator."""
