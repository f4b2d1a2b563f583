from test_observer.cli import main

main()
