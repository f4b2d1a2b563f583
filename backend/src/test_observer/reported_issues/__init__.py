"""Issues people report against environments and test cases."""
