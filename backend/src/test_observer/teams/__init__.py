"""Teams: groups of users that share permissions and artefact matching rules."""
