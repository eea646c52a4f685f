"""Lending: APR and cost of credit (Appendix J, China's annualised rate), caps and disclosures."""
