"""Running the pipeline: the steps of a command, the run lock, the ledger's status, the demo."""
