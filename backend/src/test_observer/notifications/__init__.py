"""Notifications for users, and the review cards that accompany reviewer assignments."""
