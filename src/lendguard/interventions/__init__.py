"""Interventions that stop scams and hold up afterwards (issue #19): challenges with their
follow-up decisions, holds with deadlines, the money lock and kill switch, the trusted person,
and the evidence pack of what was shown."""
