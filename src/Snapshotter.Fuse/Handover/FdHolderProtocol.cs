using System.Text;
using Snapshotter.Fuse.Interop;

namespace Snapshotter.Fuse.Handover;

/// <summary>
/// The holder's protocol: one SOCK_SEQPACKET message per request or answer, UTF-8 text, with the
/// descriptors attached by SCM_RIGHTS.
/// <list type="bullet">
/// <item><c>STORE name</c> + descriptors → <c>OK</c> (replaces what was kept under the name)</item>
/// <item><c>REMOVE name</c> → <c>OK</c></item>
/// <item><c>LIST</c> → one <c>FDS name</c> + descriptors per name, then <c>END</c></item>
/// </list>
/// Anything else → <c>ERR reason</c>.
/// </summary>
internal static class FdHolderProtocol
{
    public const string StoreCommand = "STORE";
    public const string RemoveCommand = "REMOVE";
    public const string ListCommand = "LIST";
    public const string Descriptors = "FDS";
    public const string End = "END";
    public const string Ok = "OK";
    public const string Error = "ERR";
    public const int MaxMessage = 1024;

    public static void Send(FileDescriptor socket, string text, IReadOnlyList<int>? descriptors = null) =>
        UnixSockets.Send(socket.Fd, Encoding.UTF8.GetBytes(text), descriptors is null ? [] : [.. descriptors]);

    /// <summary>One message: its text (null at end of stream) and the descriptors that came with it.</summary>
    public static string? Receive(FileDescriptor socket, List<int> descriptors)
    {
        Span<byte> buffer = stackalloc byte[MaxMessage];
        var length = UnixSockets.Receive(socket.Fd, buffer, descriptors);
        return length == 0 ? null : Encoding.UTF8.GetString(buffer[..length]);
    }

    /// <summary>Splits "VERB argument".</summary>
    public static (string Verb, string Argument) Parse(string message)
    {
        var space = message.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (message, "") : (message[..space], message[(space + 1)..]);
    }
}
