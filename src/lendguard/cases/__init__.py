"""Cases: interceptions reviewed by analysts, outreach to the customer, outcomes fed back."""
