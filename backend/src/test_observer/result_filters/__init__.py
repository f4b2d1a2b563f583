"""Which executions and results an action or a list is about: the filter object, its parsing
from a query string and its SQL, shared by the searches, reruns, issue attachment, the flaky
list and failure signatures."""
