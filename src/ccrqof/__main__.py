from ccrqof.entry import main

main()
