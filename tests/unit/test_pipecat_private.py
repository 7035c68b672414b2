"""What `local_duel.pipeline.pipecat_private` relies on in the pinned pipecat-ai: if an
upgrade renames or reshapes any of it, this fails before a duel does."""

import inspect

from pipecat.services.ollama.llm import OLLamaLLMService
from pipecat.services.openai.base_llm import BaseOpenAILLMService

from local_duel.pipeline.pipecat_private import ContextWriter
from local_duel.pipeline.writer import Writer


def test_the_service_still_hands_each_context_to_process_context():
    step = inspect.getattr_static(BaseOpenAILLMService, "_process_context")
    assert inspect.iscoroutinefunction(step)
    assert list(inspect.signature(step).parameters) == ["self", "context"]
    assert "self._process_context(frame.context)" in inspect.getsource(BaseOpenAILLMService.process_frame)
    assert issubclass(Writer, ContextWriter) and issubclass(ContextWriter, OLLamaLLMService)


async def test_the_service_keeps_its_client_and_system_instruction_where_the_adapter_reads_them():
    writer = ContextWriter(base_url="http://127.0.0.1:9/v1", settings=OLLamaLLMService.Settings(model="m", system_instruction="A duel."))
    assert writer.system_instruction == "A duel."
    assert callable(writer.client.chat.completions.create)
    await writer.close()
    assert writer.client.is_closed()
