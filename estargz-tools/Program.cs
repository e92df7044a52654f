using System.CommandLine;
using Estargz.Tools.Commands;

var root = new RootCommand("estargz: convert images to eStargz (lazy-pullable) and inspect or verify eStargz layers")
{
    ConvertCommand.Create(),
    InspectCommand.Create(),
    VerifyCommand.Create(),
    TocDigestCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
