using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Snapshotter.Testing;

/// <summary>
/// Writes bcrypt htpasswd lines (what docker-registry's htpasswd auth accepts) with the system's
/// libxcrypt <c>crypt(3)</c>, so no extra tool is needed.
/// </summary>
public static partial class Htpasswd
{
    private const string BcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>One <c>user:$2b$…</c> line (cost 5: the tests want speed, not strength).</summary>
    public static string Line(string user, string password)
    {
        var salt = new char[22];
        var random = RandomNumberGenerator.GetBytes(salt.Length);
        for (var i = 0; i < salt.Length; i++)
        {
            salt[i] = BcryptAlphabet[random[i] % BcryptAlphabet.Length];
        }
        // The last salt character only carries 2 bits; keep it in the set bcrypt round-trips.
        salt[^1] = ".Oeu"[random[^1] % 4];
        var hash = Crypt(password, "$2b$05$" + new string(salt));
        if (hash is null || !hash.StartsWith("$2b$05$", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"crypt(3) did not produce a bcrypt hash (got '{hash}'); libxcrypt with bcrypt support is needed");
        }
        return $"{user}:{hash}";
    }

    private static readonly Lock CryptLock = new();

    private static string? Crypt(string key, string setting)
    {
        // crypt(3) returns a static buffer: one caller at a time.
        lock (CryptLock)
        {
            var result = CryptNative(key, setting);
            return result == 0 ? null : Marshal.PtrToStringUTF8(result);
        }
    }

    [LibraryImport("libcrypt.so.1", EntryPoint = "crypt", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint CryptNative(string key, string setting);
}
