using System.CommandLine;
using Estargz.Tools.Commands;

var root = new RootCommand("estargz: convert images to eStargz (lazy-pullable) and inspect or verify eStargz layers")
{
    ConvertCommand.Create(),
    OptimizeCommand.Create(),
    InspectCommand.Create(),
    VerifyCommand.Create(),
    TocDigestCommand.Create(),
};
var parsed = root.Parse(args);
var exitCode = await parsed.InvokeAsync();
// System.CommandLine answers a usage error with 1, which our exit codes keep for bad input.
return parsed.Errors.Count > 0 ? ExitCodes.Usage : exitCode;
