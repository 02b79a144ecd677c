namespace Rope.Simd.Validation;

/// <summary>
/// Makes the library's argument exceptions, each carrying its message as written, without the
/// <c> (Parameter 'name')</c> that .NET appends to <see cref="ArgumentException.Message"/>: the C ABI reads it here and
/// names the C argument from its own table of <see cref="ArgumentException.ParamName"/>s instead. Every argument
/// exception a C call can reach is made here.
/// </summary>
internal static class ArgumentErrors
{
    /// <summary>Where in <see cref="Exception.Data"/> the message as written is kept.</summary>
    private const string MessageKey = "Rope.Simd.Message";

    /// <summary>An <see cref="ArgumentException"/> for parameter <paramref name="name"/>.</summary>
    public static ArgumentException Invalid(string message, string? name) => Recorded(new ArgumentException(message, name), message);

    /// <summary>An <see cref="ArgumentOutOfRangeException"/> for parameter <paramref name="name"/> holding <paramref name="value"/>.</summary>
    public static ArgumentOutOfRangeException OutOfRange(string? name, object? value, string message) =>
        Recorded(new ArgumentOutOfRangeException(name, value, message), message);

    /// <summary>The message an exception made here was given, without the parameter's name; null for any other exception.</summary>
    public static string? MessageOf(Exception exception) => exception.Data[MessageKey] as string;

    private static TException Recorded<TException>(TException exception, string message)
        where TException : Exception
    {
        exception.Data[MessageKey] = message;
        return exception;
    }
}
