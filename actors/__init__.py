"""The Canvas runtime: mailboxes, series actors, directory, supervisor and jobs."""
