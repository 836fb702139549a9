"""Reports made from a run's trace: the console transcript, results, JUnit and HTML."""
