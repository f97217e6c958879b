"""The command line and the jobs that combine simulation and reporting: the layer on top.

    distributions -> engine -> reports     (libraries, one way; docs/architecture.md)
                 jp2040                    (this package: uses all three, used by none)

``jp2040.cli`` (the ``jp2040`` command and its modes: run, calibrate, baseline/check, reverse,
sweep), ``jp2040.report`` (``jp2040-report``), ``jp2040.distributed`` (multi-process runs and
merges), ``jp2040.docs`` (generated docs), ``jp2040.engine_sobol`` (Sobol indices through the
engine), ``jp2040.tails`` (the true tails replayed for the reports). Importing it changes
nothing process-wide: the CLI applies its process settings (``jp2040.malloc``) when it starts.
"""
