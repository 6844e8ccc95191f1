"""Bilet Consent service.

Guardian consents: upload, verification, withdrawal and destruction of personal data.
"""
