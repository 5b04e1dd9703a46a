from ccrqof.cli import main

main()
