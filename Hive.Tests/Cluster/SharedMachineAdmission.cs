using System.Runtime.CompilerServices;

namespace Hive.Tests.Cluster;

/// <summary>
/// Every `hive node` the tests start inherits the test process's environment. The machines the suite runs on are small
/// and shared (2 cores, parallel builds and test classes keep the CPU at 75–100 %), so with the default CPU limit
/// (hive.node.admission.max-cpu-percent = 90) nodes under test would wait for the machine instead of running their
/// tasks. The CPU gate is therefore opened for the whole test assembly unless the environment already says otherwise;
/// memory admission keeps its default, and <see cref="AdmissionSpecs"/> tests the gate itself.
/// </summary>
internal static class SharedMachineAdmission
{
    public const string CpuVariable = "HIVE_ADMISSION_MAX_CPU_PERCENT";

    [ModuleInitializer]
    internal static void OpenCpuGateForNodesUnderTest()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(CpuVariable)))
            Environment.SetEnvironmentVariable(CpuVariable, "100");
    }
}
