from test_observer.cli.main import main

main()
