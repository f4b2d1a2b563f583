"""Signing people in and out: SAML single sign-on, development sign-in links, sessions."""
