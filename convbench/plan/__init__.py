"""What a run will time: configs read and validated (:mod:`convbench.plan.loading`), command-line
overrides applied (:mod:`convbench.plan.overrides`), and the suite expanded once into sessions
and cases (:mod:`convbench.plan.expand`), with their stable ids (:mod:`convbench.plan.sharding`)."""
