import StyleFarmCLI

bootstrapLogging()
StyleFarmCommand.prepareBLASKernel()
StyleFarmCommand.main()
