"""What you do with a finished dataset: report, export, dataset card, push to the Hub."""
